"""Money pages, one module per area (each exports `urls`)."""
