"""Static CSS files of the browser pages (a package so they ship in the wheel)."""
