"""Pure domain logic: no I/O, no adapters. Easy to unit- and property-test."""
