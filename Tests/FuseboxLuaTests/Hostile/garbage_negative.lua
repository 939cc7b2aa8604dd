
return {
  name = nil,
  allocate = function(site)
    return { p01 = -5 }
  end,
}
