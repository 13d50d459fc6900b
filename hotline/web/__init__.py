"""The browser pages: static HTML shells, ES modules and CSS, no build step."""
