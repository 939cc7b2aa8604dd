-- A limit of infinite watts.
return {
  name = nil,
  allocate = function(site)
    return {}, { { name = "x", unit = "W", available = math.huge, members = { 1 }, weights = { 230 } } }
  end,
}
