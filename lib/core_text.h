// Text helpers shared by the loaders: the edit distance behind every "did you mean" suggestion.
#ifndef DP_CORE_TEXT_H
#define DP_CORE_TEXT_H

// Optimal string alignment distance between a and b: Levenshtein (insert, delete, substitute)
// plus transposition of adjacent characters, each costing 1. Strings longer than 159 characters
// are compared on their first 159. Source: Damerau, "A technique for computer detection and
// correction of spelling errors", CACM 7(3), 1964.
int dp_edit_distance(const char *a, const char *b);

// 1 when the dotted parameter path matches pattern component by component: the same number of
// '.'-separated components, each matched by fnmatch (so '*' never crosses a dot:
// "springs.*.stiffness" matches "springs.s3.stiffness", "particles.*" matches no path).
int dp_path_match(const char *pattern, const char *path);

#endif
