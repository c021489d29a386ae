"""Pure decision code: standard library only, no database, no clock."""
