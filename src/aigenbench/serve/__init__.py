"""``aigenbench serve``: a trained detector behind HTTP (FastAPI) with a page to drop images on.

``app.create_app(detector, limits)`` is the application; ``limits.ServeLimits`` what a request may
carry; ``uploads`` turns a request's body into named images or a 4xx that says why.
"""
