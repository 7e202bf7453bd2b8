"""Customer notifications: the outbox, the templates and how a notice
leaves (e-mail, SMS)."""
