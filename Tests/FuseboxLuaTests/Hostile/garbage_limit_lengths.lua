-- More members than weights.
return {
  name = nil,
  allocate = function(site)
    return {}, { { name = "x", unit = "W", available = 1000, members = { 1, 2 }, weights = { 230 } } }
  end,
}
