
return {
  name = nil,
  allocate = function(site)
    return 42
  end,
}
