"""The Textual wizard. Imported only when the wizard is asked for; the engine never imports it."""
