"""Browser-side tests: vendored assets, QR drawing, theme and layout."""
