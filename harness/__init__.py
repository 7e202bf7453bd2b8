"""What the tests, the demo and the benchmarks run the ERP with: databases
built once per module source (databases), trytond on loopback (server),
a local SMTP server keeping what it receives (mailbox). Not installed with
the module: it lives in the checkout only."""
