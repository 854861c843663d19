"""The HTTP layer below the app: the guarded protocol (framing, deadlines, connection
caps), the browser guards, the request middleware and the /predict fast path."""
