package mfa_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/boombuler/barcode/qr"

	"github.com/portcullis-idp/portcullis/mfa"
)

func TestQRCodePNG(t *testing.T) {
	uri := mfa.KeyURI("Portcullis Demo", "jane.doe@example.com", testSecret(t))
	const size = 256
	data, err := mfa.QRCodePNG(uri, size)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("not a PNG signature")
	}
	if len(data) > 16<<10 {
		t.Errorf("PNG is %d bytes, want a small two-colour image", len(data))
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/png cannot decode it: %v", err)
	}
	if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
		t.Fatalf("image is %v, want %dx%d", b, size, size)
	}

	// The image must be the QR matrix of uri: sample the centre of every
	// module and compare it with an independent encoding of the same URI.
	want, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	n := want.Bounds().Dx()
	scale := size / (n + 8)
	offset := (size - n*scale) / 2
	if scale < 2 {
		t.Fatalf("%d modules give only %d px per module at %d px", n, scale, size)
	}
	for y := range n {
		for x := range n {
			got := dark(img.At(offset+x*scale+scale/2, offset+y*scale+scale/2))
			if got != dark(want.At(x, y)) {
				t.Fatalf("module (%d,%d) differs", x, y)
			}
		}
	}
	// The quiet zone (and the extra margin) is white all round.
	for i := 0; i < size; i++ {
		for _, p := range []image.Point{{i, 0}, {0, i}, {i, offset - 1}, {offset - 1, i}, {i, size - 1}, {size - 1, i}, {i, offset + n*scale}, {offset + n*scale, i}} {
			if dark(img.At(p.X, p.Y)) {
				t.Fatalf("pixel %v in the quiet zone is dark", p)
			}
		}
	}
	// Top-left finder pattern: dark outer ring and centre.
	if !dark(img.At(offset, offset)) || !dark(img.At(offset+3*scale, offset+3*scale)) || dark(img.At(offset+scale, offset+scale)) {
		t.Error("finder pattern not where expected")
	}
}

func TestQRCodePNGSizeLimits(t *testing.T) {
	uri := mfa.KeyURI("Portcullis", "jane@example.com", testSecret(t))
	for _, size := range []int{-1, 0, 20, 4096} {
		if _, err := mfa.QRCodePNG(uri, size); err == nil {
			t.Errorf("QRCodePNG(size %d) succeeded", size)
		}
	}
	if _, err := mfa.QRCodePNG(uri, 2048); err != nil {
		t.Errorf("QRCodePNG(size 2048) = %v", err)
	}
}

func dark(c color.Color) bool {
	return color.GrayModel.Convert(c).(color.Gray).Y < 0x80
}
