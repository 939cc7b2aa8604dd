-- A limit over a charger the site does not have.
return {
  name = nil,
  allocate = function(site)
    return {}, { { name = "x", unit = "W", available = 1000, members = { 0 }, weights = { 230 } } }
  end,
}
