package mfa

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/boombuler/barcode/qr"
)

// QR code rendering limits.
const (
	qrQuietZone = 4    // modules of white border the QR specification asks for
	qrMaxSize   = 2048 // pixels; bounds the memory one request can make us use
)

// QRCodePNG renders uri as a QR code (error correction level M) and returns
// it as a size × size pixel PNG with two colours.
//
// Every module is drawn as an integer number of pixels so the code stays
// sharp; the remaining pixels become extra white margin around the four
// module quiet zone. size must leave at least one pixel per module
// (about 65 pixels for a typical otpauth:// link) and be at most 2048.
func QRCodePNG(uri string, size int) ([]byte, error) {
	if size <= 0 || size > qrMaxSize {
		return nil, fmt.Errorf("mfa: QR code size %d out of range 1..%d", size, qrMaxSize)
	}
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("mfa: encoding QR code: %w", err)
	}
	modules := code.Bounds().Dx()
	total := modules + 2*qrQuietZone
	scale := size / total
	if scale < 1 {
		return nil, fmt.Errorf("mfa: QR code needs at least %d pixels, got %d", total, size)
	}
	offset := (size - modules*scale) / 2
	origin := code.Bounds().Min

	// Palette index 0 is white, so the new image starts all white.
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for my := range modules {
		for mx := range modules {
			if !isDark(code.At(origin.X+mx, origin.Y+my)) {
				continue
			}
			x0, y0 := offset+mx*scale, offset+my*scale
			for y := y0; y < y0+scale; y++ {
				row := img.Pix[y*img.Stride : (y+1)*img.Stride]
				for x := x0; x < x0+scale; x++ {
					row[x] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("mfa: encoding PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// isDark reports whether c is closer to black than to white.
func isDark(c color.Color) bool {
	return color.GrayModel.Convert(c).(color.Gray).Y < 0x80
}
