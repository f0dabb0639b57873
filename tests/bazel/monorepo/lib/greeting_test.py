"""The library under rules_python's py_test: the same result as in the component."""

import unittest

from lib.greeting import greet


class GreetingTest(unittest.TestCase):
    def test_greet(self):
        self.assertEqual(greet("world"), "Hello, WORLD!")


if __name__ == "__main__":
    unittest.main()
