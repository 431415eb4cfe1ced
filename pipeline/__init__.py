"""pdfline's worker side: settings, models, broker, middleware, stages and embedders."""
