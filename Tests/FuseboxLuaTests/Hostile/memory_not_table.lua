
return {
  name = nil,
  allocate = function(site)
    site.memory = 5
    return {}
  end,
}
