"""evframe-test-editable: handlers a test edits while ``evframe serve`` runs them."""
