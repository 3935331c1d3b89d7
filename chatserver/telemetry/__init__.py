"""What operators read: Prometheus figures (``metrics``, ``scrape``) and structured logs
(``logs``)."""
