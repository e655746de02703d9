"""Fixed pools the WooCommerce data generator draws from: names, places, products, phones."""

from __future__ import annotations

import random

FIRST_NAMES = (
    "Emma", "Louis", "Chloé", "Hugo", "Léa", "Gabriel", "Manon", "Arthur", "Inès", "Jules",
    "Camille", "Noah", "Zoé", "Adam", "Sarah", "Lucas", "Olivia", "Liam", "Mia", "Ethan",
    "José", "Ana", "Björn", "Søren", "Łucja", "Jürgen", "Aoife", "Siobhán", "Priya", "Kenji",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
    "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "García", "Müller",
    "O'Brien", "Smith", "Johnson", "Nowak", "Kowalski", "Ní Bhriain", "Van der Berg",
    "Da Silva", "Nakamura", "Okafor", "Haddad", "Rossi", "Fernández", "Schmidt",
)  # fmt: skip
# (country, city, postcode, state): the shop is in France, so most buyers are too.
PLACES = (
    ("FR", "Paris", "75011", ""), ("FR", "Lyon", "69003", ""), ("FR", "Marseille", "13001", ""),
    ("FR", "Lille", "59000", ""), ("FR", "Nantes", "44000", ""), ("FR", "Bordeaux", "33000", ""),
    ("BE", "Bruxelles", "1000", ""), ("DE", "Berlin", "10115", ""), ("ES", "Madrid", "28013", ""),
    ("GB", "London", "SW1A 1AA", ""), ("US", "Portland", "97201", "OR"),
    ("MA", "Casablanca", "20000", ""), ("JP", "Tokyo", "100-0001", "JP13"),
)  # fmt: skip
STREETS = (
    "rue de la Paix", "avenue Victor Hugo", "boulevard Voltaire", "rue des Lilas", "High Street",
    "Hauptstraße", "Calle Mayor", "Main St", "chemin des Vignes", "place du Marché",
)  # fmt: skip
COMPANIES = ("", "", "", "", "Atelier Durand", "Café du Coin", "Studio Nord", "ACME SARL")
PRODUCT_NAMES = (
    ("Café moulu 250 g", "12.50", "cafe"), ("Café en grains 1 kg", "34.00", "cafe"),
    ("Thé vert sencha", "9.90", "the"), ("Thé noir Assam", "8.50", "the"),
    ("Mug émaillé", "14.00", "accessoires"), ("Théière en fonte", "49.00", "accessoires"),
    ("Filtre papier x100", "4.20", "accessoires"), ("Moulin manuel", "39.90", "accessoires"),
    ("Chocolat chaud 500 g", "11.00", "epicerie"), ("Biscuits sablés", "6.80", "epicerie"),
    ("Coffret découverte", "59.00", "coffrets"), ("Carte cadeau 25 €", "25.00", "coffrets"),
)  # fmt: skip
CATEGORIES = {"cafe": 15, "the": 16, "accessoires": 17, "epicerie": 18, "coffrets": 19}
PAYMENT_METHODS = (
    ("stripe", "Credit card (Stripe)"), ("paypal", "PayPal"),
    ("bacs", "Direct bank transfer"), ("cod", "Cash on delivery"),
)  # fmt: skip
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1",
)
CALLING_CODES = {"FR": "33", "BE": "32", "DE": "49", "ES": "34", "GB": "44", "US": "1"}
CALLING_CODES |= {"MA": "212", "JP": "81"}


def phone_for(rng: random.Random, country: str) -> str:
    """A plausible phone for the country, in one of the ways people really type them."""
    digits = "".join(str(rng.randint(0, 9)) for _ in range(8))
    code = CALLING_CODES.get(country, "33")
    style = rng.random()
    if style < 0.15:
        return ""  # many checkouts leave the phone optional
    if country == "US":
        return f"+1 503-555-01{digits[:2]}" if style < 0.6 else f"(503) 555-01{digits[:2]}"
    if country == "GB":
        return f"+44 7700 900{digits[:3]}" if style < 0.6 else f"07700 900{digits[:3]}"
    pairs = " ".join(digits[i : i + 2] for i in range(0, 8, 2))
    if style < 0.45:
        return f"+{code} 6 {pairs}"
    if style < 0.75:
        return f"06{digits}" if country == "FR" else f"+{code}6{digits}"
    return f"06 {pairs}" if country == "FR" else f"00{code} 6{digits}"
