"""Stage types: one module per type, each registers itself with `@register(name)`."""
