"""Who is calling (tokens) and which profiles they may reach (grants)."""
