"""Server-rendered pages (pure: data in, HTML text out): the replay report and the `/ui` status page."""
