"""The wheel-using library under py_test: the same result as in the component."""

import unittest

from lib.dates import add_months


class DatesTest(unittest.TestCase):
    def test_add_months(self):
        self.assertEqual(add_months("2024-01-31", 1), "2024-02-29")


if __name__ == "__main__":
    unittest.main()
