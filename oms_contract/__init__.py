"""The contract between the ERP module and the sync agent: the canonical
order and every other body that crosses the HTTP API (`models`), the order
status vocabulary (`models.OrderStatus`, with the words staff and
customers read), and the OpenAPI document generated from them
(`openapi`, `openapi.yaml`). Both sides import it; it imports neither."""
