"""An app using three PyPI packages, installed with `pip install --target`
next to it (scripts/bench.sh): jinja2, pyyaml and python-dateutil."""

import jinja2
import yaml
from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta

TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    "{{ name }} ({{ when }}): {% for k, v in items %}{{ k }}={{ v }} {% endfor %}"
)
CONFIG = yaml.safe_load("when: 2024-02-29\nitems:\n  a: 1\n  b: [2, 3]\n")


class WitWorld:
    def render(self, text):
        when = dateparser.parse(str(CONFIG["when"])) + relativedelta(years=1)
        return TEMPLATE.render(
            name=text, when=when.date().isoformat(), items=sorted(CONFIG["items"].items())
        )
