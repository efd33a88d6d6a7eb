// Text helpers shared by the loaders: the edit distance behind every "did you mean" suggestion.
#ifndef DP_CORE_TEXT_H
#define DP_CORE_TEXT_H

// Optimal string alignment distance between a and b: Levenshtein (insert, delete, substitute)
// plus transposition of adjacent characters, each costing 1. Strings longer than 159 characters
// are compared on their first 159. Source: Damerau, "A technique for computer detection and
// correction of spelling errors", CACM 7(3), 1964.
int dp_edit_distance(const char *a, const char *b);

#endif
