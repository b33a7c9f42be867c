// Runs a WebAuthn ceremony for the form #webauthn-form: reads the options
// the server put in #webauthn-options, asks the browser
// (navigator.credentials.create or .get), and posts the answer as JSON in
// the hidden field "credential". Without WebAuthn the button stays
// disabled and the page says why; the other ways to sign in are links.
(function () {
  "use strict";
  var form = document.getElementById("webauthn-form");
  var button = document.getElementById("webauthn-start");
  var status = document.getElementById("webauthn-status");
  var field = document.getElementById("webauthn-credential");
  var data = document.getElementById("webauthn-options");
  if (!form || !button || !status || !field || !data) {
    return;
  }
  if (!window.PublicKeyCredential || !navigator.credentials) {
    status.textContent = "This browser cannot use passkeys. Use another browser, or " +
      (form.getAttribute("data-purpose") === "passwordless" ? "sign in with your email and password." : "choose another way below.");
    return;
  }

  function fromB64(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = fromB64(pk.challenge);
    pk.user.id = fromB64(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = fromB64(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64(c.id); });
    return { publicKey: pk };
  }

  function answer(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toB64(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  var purpose = form.getAttribute("data-purpose");
  var register = purpose === "register";
  // On the password page the browser may also offer the passkey in the
  // email field's autofill (conditional mediation); the button asks at once.
  var autofill = null;

  function post(cred) {
    field.value = answer(cred);
    status.textContent = "Checking…";
    form.submit();
  }

  if (purpose === "passwordless" && window.AbortController &&
      PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      if (!ok || field.value) {
        return;
      }
      autofill = new AbortController();
      var o = requestOptions(JSON.parse(data.textContent));
      o.mediation = "conditional";
      o.signal = autofill.signal;
      navigator.credentials.get(o).then(post, function () {});
    });
  }

  button.disabled = false;
  form.addEventListener("submit", function (event) {
    if (field.value) {
      return; // the answer is in: post it
    }
    event.preventDefault();
    if (!form.reportValidity()) {
      return;
    }
    if (autofill) {
      autofill.abort();
      autofill = null;
    }
    var options = JSON.parse(data.textContent);
    button.disabled = true;
    status.textContent = "Waiting for your passkey…";
    var ceremony = register
      ? navigator.credentials.create(creationOptions(options))
      : navigator.credentials.get(requestOptions(options));
    ceremony.then(post, function (err) {
      button.disabled = false;
      var other = purpose === "passwordless"
        ? "sign in with your email and password."
        : "choose another way below.";
      status.textContent = err && err.name === "InvalidStateError"
        ? "This passkey is already registered. Use another one, or " + other
        : "The passkey was not used (cancelled or timed out). Try again, or " + other;
    });
  });
})();
