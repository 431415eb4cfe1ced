"""pdfline's HTTP side: the FastAPI app, one router per resource."""
