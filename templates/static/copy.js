// Copy buttons for keys shown once (the setup key, the recovery key).
// Each [data-copy] element is hidden in the page and shown here, so a
// browser without scripts sees no button that does nothing; the key itself
// stays selectable text. The button copies the text of the element whose
// id data-copy names (without spaces with data-copy-compact), says
// "Copied", and reports it in its status line (aria-live polite). Where
// the clipboard cannot be written, the key is selected for the user to
// copy.
(() => {
  "use strict";
  const select = (el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  };
  for (const box of document.querySelectorAll("[data-copy]")) {
    const source = document.getElementById(box.dataset.copy);
    const button = box.querySelector("button");
    const label = box.querySelector(".copy__label");
    const status = box.querySelector(".copy__status");
    if (!source || !button || !label || !status) continue;
    const what = box.dataset.copyWhat || "Key";
    let timer = 0;
    const done = (copied) => {
      label.textContent = copied ? "Copied" : "Copy";
      status.textContent = copied ? what + " copied." : what + " selected: press Ctrl+C (\u2318C on a Mac) to copy it.";
      box.classList.toggle("copy--done", copied);
      clearTimeout(timer);
      timer = setTimeout(() => {
        label.textContent = "Copy";
        box.classList.remove("copy--done");
      }, 4000);
    };
    button.addEventListener("click", async () => {
      let text = source.textContent.trim();
      if ("copyCompact" in box.dataset) text = text.replace(/\s+/g, "");
      try {
        await navigator.clipboard.writeText(text);
        done(true);
      } catch {
        select(source);
        done(false);
      }
    });
    box.hidden = false;
  }
})();
