"""Domain helpers the OMS models share."""


def any_field_matches(clause, names):
    """The domain of a rec_name search clause matched against any of the
    fields (all of them, for a negative operator)"""
    _, operator, operand, *extra = clause
    negative = operator.startswith('!') or operator.startswith('not ')
    return ['AND' if negative else 'OR'] + [
        (name, operator, operand, *extra) for name in names]
