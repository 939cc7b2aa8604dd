-- A limit that a charger would loosen by drawing more.
return {
  name = nil,
  allocate = function(site)
    return {}, { { name = "x", unit = "W", available = 1000, members = { 1 }, weights = { -230 } } }
  end,
}
