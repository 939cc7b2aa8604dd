-- Backtracking in C: four lazy quantifiers over 5,000 bytes that never match
-- would run for hours without one instruction for the budget to count.
return {
  allocate = function(site)
    local s = string.rep("a", 5000)
    local found = s:find(".-.-.-.-b")
    return {}
  end,
}
