"""The sample catalog of DESIGN.md (same ids as the original demo; prices in yen)."""

from uuid import UUID

SAMPLE_CATALOG = [
    (UUID("a1111111-1111-1111-1111-111111111111"), "Laptop", 120_000, 50),
    (UUID("b2222222-2222-2222-2222-222222222222"), "Wireless Mouse", 3_500, 200),
    (UUID("c3333333-3333-3333-3333-333333333333"), "USB Keyboard", 5_800, 150),
    (UUID("d4444444-4444-4444-4444-444444444444"), "4K Monitor", 65_000, 30),
    (UUID("e5555555-5555-5555-5555-555555555555"), "Headset", 8_900, 100),
]
