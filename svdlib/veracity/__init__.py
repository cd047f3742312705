"""The paper's measurements over plain arrays: flips, Tables 1 and 2, statistics, horses."""
