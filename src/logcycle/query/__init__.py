"""See docs/architecture.md for where this part sits in the data flow."""
