"""The standalone sync agent: pulls marketplace orders into the ERP and
pushes stock, fulfilments and tracking back (see docs/ and DESIGN.md)."""
