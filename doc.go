// Package portcullis is the root of the Portcullis module: an OpenID
// Connect identity provider with mandatory two-factor authentication. The
// binary lives in cmd/portcullis; see README.md and DESIGN.md for the map.
package portcullis
