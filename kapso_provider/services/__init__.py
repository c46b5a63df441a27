"""Services: work that takes several requests with decisions between them, called by one operator method."""
