"""Static files of the browser pages (a package so the files ship in the wheel)."""
