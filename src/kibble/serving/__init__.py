"""Online serving: routing of requests over model arms (pure logic in ``routing``)."""
