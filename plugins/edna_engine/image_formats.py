"""The image formats Edna decodes: common dataset formats only, so Pillow never hands user bytes to
plugins that run outside programs (EPS via Ghostscript) or rarely fuzzed decoders."""

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
