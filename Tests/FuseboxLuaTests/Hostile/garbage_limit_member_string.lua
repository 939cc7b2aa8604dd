-- A charger's id where its index belongs in a limit.
return {
  name = nil,
  allocate = function(site)
    return {}, { { name = "x", unit = "W", available = 1000, members = { "p01" }, weights = { 230 } } }
  end,
}
