-- A limit over charger one and a half.
return {
  name = nil,
  allocate = function(site)
    return {}, { { name = "x", unit = "W", available = 1000, members = { 1.5 }, weights = { 230 } } }
  end,
}
