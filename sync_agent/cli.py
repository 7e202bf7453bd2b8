def main():
    raise SystemExit("oms-sync: placeholder")
