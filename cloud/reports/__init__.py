"""Reports over HTTP: billing readiness per month and engagement per organisation."""
