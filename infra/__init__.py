"""The AWS stack: one ComponentResource per concern, composed by the top-level __main__.py."""
