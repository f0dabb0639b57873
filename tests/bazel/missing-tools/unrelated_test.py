"""A plain Python test: it must not need any componentize-py tool."""

import unittest


class Unrelated(unittest.TestCase):
    def test_sum(self):
        self.assertEqual(sum(range(5)), 10)


if __name__ == "__main__":
    unittest.main()
